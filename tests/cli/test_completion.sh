#!/usr/bin/env bash
# test_completion.sh - the bash completion (completion/labdaq) completes
# commands, options before or after the command, option values, device
# URIs from labdaq list (colons and all), attribute names and files.
. "$(dirname "$0")/lib.sh"
require_labdaq

# shellcheck source=/dev/null
. "$TOP/completion/labdaq"
COMP_WORDBREAKS=$' \t\n"\'><=;|&(:'
is "complete -p labdaq names _labdaq" "$(complete -p labdaq)" "complete -F _labdaq labdaq"

# comp LINE: the completions offered at the end of LINE (the program is
# this tree's labdaq), one per line, sorted.
comp() {
	COMP_LINE="$LABDAQ ${1}"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_labdaq 2>/dev/null
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}

is "commands" "$(comp '')" "acquire attr help info inspect list queue recover stop sweep"
is "a command's start: 'acq'" "$(comp 'acq')" "acquire"
is "global options" "$(comp '--ver')" "--verbose --version"
missing=
got=$(comp 'acquire --')
for o in --attr --channels --continuous --dry-run --force --frames --meta --on-full --output \
	--progress --rate --ring --samples --time; do
	case " $got " in *" $o "*) ;; *) missing="$missing $o" ;; esac
done
is "acquire --: every option of its --help" "${missing:-none}" none
is "options after a global one: '-v acquire --ri'" "$(comp '-v acquire --ri')" "--ring"
is "options after the device: 'sweep sim:ohm --rep'" "$(comp 'sweep sim:ohm --rep')" "--repeat"
is "--progress values" "$(comp 'acquire sim:adc --progress ')" "auto bar json lines none"
is "--on-full values" "$(comp 'acquire sim:adc --on-full d')" "drop"
is "devices from labdaq list" "$(comp 'acquire ')" "sim:adc sim:camera sim:ohm"
is "a device after 'sim:' (bash replaces what follows the colon)" "$(comp 'info sim:c')" "camera"
is "no second device" "$(comp 'info sim:adc ')" ""
is "attribute names of the device given" "$(comp 'attr sim:ohm ')" "noise out_voltage0 r seed"
is "attribute names for --attr" "$(comp 'sweep sim:ohm --set voltage0 --attr n')" "noise="
is "help COMMAND" "$(comp 'help sw')" "sweep"
mkdir -p "$T/files/sub"
: >"$T/files/a.npy"
: >"$T/files/b.csv"
: >"$T/files/c.txt"
is "inspect: .npy, .csv and directories" "$(comp "inspect $T/files/")" \
	"$T/files/a.npy $T/files/b.csv $T/files/sub"
is "-o: any file" "$(comp "acquire sim:adc -o $T/files/c")" "$T/files/c.txt"
finish
