#!/bin/bash
# usb-gadget.sh sets up the USB HID gadget kvmagent types into: a boot keyboard, an absolute
# mouse and a relative mouse, as one composite USB device through configfs (libcomposite).
# Run it as root on a board with a USB device controller (Raspberry Pi 4/5 USB-C port, Pi Zero
# OTG port, with dtoverlay=dwc2 in config.txt and dwc2 in /etc/modules), at every boot (a
# systemd oneshot before kvmagent), then point kvmagent at the devices it prints:
#
#   kvmagent --hid usb-gadget:///dev/hidg0,/dev/hidg1,/dev/hidg2
#
#   usb-gadget.sh [up]           create the gadget and bind it (again: no change if it matches)
#   usb-gadget.sh down           unbind and remove it
#   usb-gadget.sh status         show the devices and the controller it is bound to
#   usb-gadget.sh descriptor K   print the report descriptor of K (keyboard, absolute,
#                                relative) to standard output, for tests and hid decoders
#
# Options (environment): GADGET_NAME (default kvmrelay), GADGET_UDC (default: the first
# controller in /sys/class/udc), GADGET_RELATIVE=0 to leave out the relative mouse.
#
# PiKVM and TinyPilot set up a gadget of their own with the same report layouts; do not run
# this script there, point --hid at theirs instead: keyboard /dev/hidg0, absolute mouse
# /dev/hidg1 on both, and on PiKVM the relative mouse /dev/hidg2 (udev names them
# /dev/kvmd-hid-keyboard, /dev/kvmd-hid-mouse, /dev/kvmd-hid-mouse-alt). Stop kvmd first: only
# one program may write to a gadget.
#
# The report layouts here are the ones device/usbgadget writes; its tests parse these
# descriptors and decode its reports with them.
set -euo pipefail

NAME=${GADGET_NAME:-kvmrelay}
CONFIGFS=/sys/kernel/config
GADGET=$CONFIGFS/usb_gadget/$NAME
FUNCTIONS=(keyboard absolute)
if [[ ${GADGET_RELATIVE:-1} != 0 ]]; then
	FUNCTIONS+=(relative)
fi

# b writes the bytes given in hex.
b() {
	local x
	for x in "$@"; do
		# shellcheck disable=SC2059 # the format is the byte
		printf "\\x$x"
	done
}

# Boot keyboard (HID 1.11 Appendix B.1 and E.6). Input report, 8 bytes:
#   byte 0   modifiers: bit 0 Left Ctrl … bit 7 Right GUI (usages 0xE0–0xE7)
#   byte 1   reserved
#   bytes 2–7  up to six pressed keys (usages), or 0x01 ErrorRollOver in all six
# Output report (the host's LEDs), 1 byte: bit 0 Num Lock, 1 Caps Lock, 2 Scroll Lock,
# 3 Compose, 4 Kana.
keyboard_descriptor() {
	b 05 01       # Usage Page (Generic Desktop)
	b 09 06       # Usage (Keyboard)
	b a1 01       # Collection (Application)
	b 05 07       #   Usage Page (Keyboard/Keypad)
	b 19 e0       #   Usage Minimum (0xE0 Left Control)
	b 29 e7       #   Usage Maximum (0xE7 Right GUI)
	b 15 00       #   Logical Minimum (0)
	b 25 01       #   Logical Maximum (1)
	b 75 01       #   Report Size (1 bit)
	b 95 08       #   Report Count (8)
	b 81 02       #   Input (Data, Variable, Absolute): byte 0, the modifier bits
	b 95 01       #   Report Count (1)
	b 75 08       #   Report Size (8 bits)
	b 81 01       #   Input (Constant): byte 1, reserved
	b 95 05       #   Report Count (5)
	b 75 01       #   Report Size (1 bit)
	b 05 08       #   Usage Page (LEDs)
	b 19 01       #   Usage Minimum (1 Num Lock)
	b 29 05       #   Usage Maximum (5 Kana)
	b 91 02       #   Output (Data, Variable, Absolute): LED bits 0–4
	b 95 01       #   Report Count (1)
	b 75 03       #   Report Size (3 bits)
	b 91 01       #   Output (Constant): LED bits 5–7, padding
	b 95 06       #   Report Count (6)
	b 75 08       #   Report Size (8 bits)
	b 15 00       #   Logical Minimum (0)
	b 26 ff 00    #   Logical Maximum (255), two-byte item
	b 05 07       #   Usage Page (Keyboard/Keypad)
	b 19 00       #   Usage Minimum (0)
	b 2a ff 00    #   Usage Maximum (255), two-byte item
	b 81 00       #   Input (Data, Array, Absolute): bytes 2–7, the pressed keys
	b c0          # End Collection
}

# Absolute mouse. Input report, 7 bytes:
#   byte 0     buttons: bit 0 left, 1 right, 2 middle, 3 back, 4 forward
#   bytes 1–2  X, 0…32767, little endian
#   bytes 3–4  Y, 0…32767, little endian
#   byte 5     wheel, −127…127, positive scrolls up
#   byte 6     horizontal pan (AC Pan), −127…127, positive scrolls right
# 0…32767 rather than a signed range: Windows ignores negative absolute coordinates.
absolute_descriptor() {
	b 05 01       # Usage Page (Generic Desktop)
	b 09 02       # Usage (Mouse)
	b a1 01       # Collection (Application)
	b 09 01       #   Usage (Pointer)
	b a1 00       #   Collection (Physical): macOS Recovery wants Pointer in a Physical one
	b 05 09       #     Usage Page (Button)
	b 19 01       #     Usage Minimum (Button 1)
	b 29 05       #     Usage Maximum (Button 5)
	b 15 00       #     Logical Minimum (0)
	b 25 01       #     Logical Maximum (1)
	b 95 05       #     Report Count (5)
	b 75 01       #     Report Size (1 bit)
	b 81 02       #     Input (Data, Variable, Absolute): byte 0 bits 0–4, buttons
	b 95 01       #     Report Count (1)
	b 75 03       #     Report Size (3 bits)
	b 81 01       #     Input (Constant): byte 0 bits 5–7, padding
	b 05 01       #     Usage Page (Generic Desktop)
	b 09 30       #     Usage (X)
	b 09 31       #     Usage (Y)
	b 16 00 00    #     Logical Minimum (0), two-byte item
	b 26 ff 7f    #     Logical Maximum (32767), two-byte item
	b 75 10       #     Report Size (16 bits)
	b 95 02       #     Report Count (2)
	b 81 02       #     Input (Data, Variable, Absolute): bytes 1–4, X and Y
	b 09 38       #     Usage (Wheel)
	b 15 81       #     Logical Minimum (−127)
	b 25 7f       #     Logical Maximum (127)
	b 75 08       #     Report Size (8 bits)
	b 95 01       #     Report Count (1)
	b 81 06       #     Input (Data, Variable, Relative): byte 5, wheel
	b 05 0c       #     Usage Page (Consumer)
	b 0a 38 02    #     Usage (0x0238 AC Pan), two-byte item
	b 81 06       #     Input (Data, Variable, Relative): byte 6, pan (size, count, range as above)
	b c0          #   End Collection
	b c0          # End Collection
}

# Relative mouse, boot compatible (HID 1.11 Appendix B.2): a BIOS in boot protocol reads the
# first three bytes. Input report, 5 bytes:
#   byte 0  buttons as on the absolute mouse
#   byte 1  X motion, −127…127
#   byte 2  Y motion, −127…127, positive moves down
#   byte 3  wheel, −127…127, positive scrolls up
#   byte 4  horizontal pan (AC Pan), −127…127
relative_descriptor() {
	b 05 01       # Usage Page (Generic Desktop)
	b 09 02       # Usage (Mouse)
	b a1 01       # Collection (Application)
	b 09 01       #   Usage (Pointer)
	b a1 00       #   Collection (Physical)
	b 05 09       #     Usage Page (Button)
	b 19 01       #     Usage Minimum (Button 1)
	b 29 05       #     Usage Maximum (Button 5)
	b 15 00       #     Logical Minimum (0)
	b 25 01       #     Logical Maximum (1)
	b 95 05       #     Report Count (5)
	b 75 01       #     Report Size (1 bit)
	b 81 02       #     Input (Data, Variable, Absolute): byte 0 bits 0–4, buttons
	b 95 01       #     Report Count (1)
	b 75 03       #     Report Size (3 bits)
	b 81 01       #     Input (Constant): byte 0 bits 5–7, padding
	b 05 01       #     Usage Page (Generic Desktop)
	b 09 30       #     Usage (X)
	b 09 31       #     Usage (Y)
	b 09 38       #     Usage (Wheel)
	b 15 81       #     Logical Minimum (−127)
	b 25 7f       #     Logical Maximum (127)
	b 75 08       #     Report Size (8 bits)
	b 95 03       #     Report Count (3)
	b 81 06       #     Input (Data, Variable, Relative): bytes 1–3, X, Y and wheel
	b 05 0c       #     Usage Page (Consumer)
	b 0a 38 02    #     Usage (0x0238 AC Pan), two-byte item
	b 95 01       #     Report Count (1)
	b 81 06       #     Input (Data, Variable, Relative): byte 4, pan
	b c0          #   End Collection
	b c0          # End Collection
}

# function_attrs prints "protocol subclass report_length" of a function: boot interface
# subclass 1 with protocol 1 (keyboard) or 2 (mouse); the absolute mouse is not a boot device.
function_attrs() {
	case $1 in
	keyboard) echo 1 1 8 ;;
	absolute) echo 0 0 7 ;;
	relative) echo 2 1 5 ;;
	*) return 1 ;;
	esac
}

die() {
	echo "usb-gadget.sh: $*" >&2
	exit 1
}

# hidg prints the /dev/hidgN of a function: N is the minor number in its dev attribute.
hidg() {
	local dev
	dev=$(cat "$GADGET/functions/hid.$1/dev")
	echo "/dev/hidg${dev#*:}"
}

# matches tells whether the gadget exists, is bound, and has exactly our functions.
matches() {
	local f tmp
	[[ -d $GADGET && -n $(cat "$GADGET/UDC" 2>/dev/null) ]] || return 1
	[[ $(find "$GADGET/functions" -mindepth 1 -maxdepth 1 | wc -l) == "${#FUNCTIONS[@]}" ]] || return 1
	tmp=$(mktemp)
	for f in "${FUNCTIONS[@]}"; do
		"${f}_descriptor" >"$tmp"
		if ! cmp -s "$tmp" "$GADGET/functions/hid.$f/report_desc"; then
			rm -f "$tmp"
			return 1
		fi
	done
	rm -f "$tmp"
}

up() {
	local udc f attrs tmp spec
	if matches; then
		echo "gadget $NAME is already set up"
		status
		return
	fi
	down
	modprobe libcomposite
	if [[ ! -d $CONFIGFS/usb_gadget ]]; then
		mountpoint -q "$CONFIGFS" || mount -t configfs none "$CONFIGFS"
	fi
	udc=${GADGET_UDC:-$(find /sys/class/udc -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | head -n 1)}
	[[ -n $udc ]] || die "no USB device controller in /sys/class/udc: enable dtoverlay=dwc2 (Raspberry Pi) and load dwc2"

	mkdir "$GADGET"
	echo 0x1d6b >"$GADGET/idVendor"  # Linux Foundation
	echo 0x0104 >"$GADGET/idProduct" # Multifunction Composite Gadget
	echo 0x0100 >"$GADGET/bcdDevice"
	echo 0x0200 >"$GADGET/bcdUSB" # USB 2.0
	mkdir "$GADGET/strings/0x409"
	echo kvmrelay >"$GADGET/strings/0x409/manufacturer"
	echo "kvmrelay keyboard and mouse" >"$GADGET/strings/0x409/product"
	if [[ -r /etc/machine-id ]]; then
		head -c 16 /etc/machine-id >"$GADGET/strings/0x409/serialnumber"
	fi
	mkdir "$GADGET/configs/c.1"
	mkdir "$GADGET/configs/c.1/strings/0x409"
	echo "keyboard and mouse" >"$GADGET/configs/c.1/strings/0x409/configuration"
	echo 100 >"$GADGET/configs/c.1/MaxPower"

	tmp=$(mktemp)
	for f in "${FUNCTIONS[@]}"; do
		mkdir "$GADGET/functions/hid.$f"
		read -r -a attrs <<<"$(function_attrs "$f")"
		echo "${attrs[0]}" >"$GADGET/functions/hid.$f/protocol"
		echo "${attrs[1]}" >"$GADGET/functions/hid.$f/subclass"
		echo "${attrs[2]}" >"$GADGET/functions/hid.$f/report_length"
		# One write: configfs takes each write as the whole descriptor.
		"${f}_descriptor" >"$tmp"
		cat "$tmp" >"$GADGET/functions/hid.$f/report_desc"
		ln -s "$GADGET/functions/hid.$f" "$GADGET/configs/c.1/"
	done
	rm -f "$tmp"
	echo "$udc" >"$GADGET/UDC"
	status
	spec="usb-gadget://$(hidg keyboard),$(hidg absolute)"
	[[ ${GADGET_RELATIVE:-1} == 0 ]] || spec+=",$(hidg relative)"
	echo "kvmagent --hid $spec"
}

down() {
	local f
	[[ -d $GADGET ]] || return 0
	if [[ -n $(cat "$GADGET/UDC" 2>/dev/null) ]]; then
		echo "" >"$GADGET/UDC"
	fi
	find "$GADGET/configs" -mindepth 2 -maxdepth 2 -type l -delete
	find "$GADGET/configs" -mindepth 3 -maxdepth 3 -type d -path '*/strings/*' -exec rmdir {} +
	find "$GADGET/configs" -mindepth 1 -maxdepth 1 -type d -exec rmdir {} +
	find "$GADGET/functions" -mindepth 1 -maxdepth 1 -type d -exec rmdir {} +
	find "$GADGET/strings" -mindepth 1 -maxdepth 1 -type d -exec rmdir {} +
	rmdir "$GADGET"
}

status() {
	local f
	if [[ ! -d $GADGET ]]; then
		echo "gadget $NAME: not set up"
		return
	fi
	echo "gadget $NAME bound to: $(cat "$GADGET/UDC")"
	for f in "$GADGET"/functions/hid.*; do
		echo "  ${f##*/hid.}: $(hidg "${f##*/hid.}")"
	done
}

case ${1:-up} in
up) up ;;
down) down ;;
status) status ;;
descriptor)
	function_attrs "${2:-}" >/dev/null || die "descriptor of what? keyboard, absolute or relative"
	"${2}_descriptor"
	;;
*) die "unknown command $1; want up, down, status or descriptor" ;;
esac
