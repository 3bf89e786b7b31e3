. /tests/lib.sh
. /tests/iio-lib.sh
need_labdaq dbg
counter_mode 50000
labdaq -v acquire "$DEV" --samples 100k --rate 50k --channels voltage0,current0 -o "$W/d1.npy" 2>&1 | while IFS= read -r l; do note "$l"; done
labdaq -v acquire "$DEV" --samples 100k --rate 50k --channels voltage0,current0 -o "$W/d2.npy" --ring 4M 2>&1 | while IFS= read -r l; do note "$l"; done
note "$(cat /proc/meminfo | head -3 | tr '\n' ' ')"
exit 0
