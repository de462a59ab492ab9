/**
 * The chassis_control program of one lab BMC (ipmi_sim(1), lan.conf `chassis_control`), as a
 * POSIX shell script written next to each BMC's configuration. It keeps its state in files,
 * so the lab survives the process that started it (`rackseed lab up` returns; `lab down` stops).
 */
export const CHASSIS_CONTROL_SCRIPT = `#!/bin/sh
# The chassis_control program of one lab BMC (ipmi_sim(1), lan.conf \`chassis_control\`).
#   chassis-control.sh STATE_DIR get power boot         -> prints "power:0|1" and "boot:<dev>"
#   chassis-control.sh STATE_DIR set power 0|1 | reset 1 | shutdown 1 | boot <dev> | identify "<s> <f>"
# It records the chassis state in STATE_DIR (power, bootdev, events) and, if STATE_DIR/on-command
# exists, runs it in its own session at power-on and kills that session at power-off; the
# session's pid goes to the resource list of the lab's scope (named in STATE_DIR/resources-file),
# so that whoever removes the lab kills it too. If STATE_DIR/machine-netns names the machine's
# network namespace, power-off also kills every process left in it: what left the session
# (a daemonized QEMU guest calls setsid) dies with the machine's power as well.
# ipmi_sim runs this through popen() and blocks until it returns, and ipmitool retransmits
# after ~1 s: every branch must return at once (SIGKILL, never wait).
d=$1; op=$2; shift 2
log() { echo "$*" >> "$d/events"; }
power() { cat "$d/power" 2>/dev/null || echo 0; }
start_of() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
kill_node() {
  [ -s "$d/node.pid" ] || return 0
  read -r p st < "$d/node.pid"
  [ "$(start_of "$p")" = "$st" ] && kill -"$1" "-$p" 2>/dev/null  # dash: no "--" before a process group
  rm -f "$d/node.pid"
}
on() {
  [ "$(power)" = 1 ] && return 0
  echo 1 > "$d/power"; log "power on"
  if [ -s "$d/on-command" ]; then
    setsid sh "$d/on-command" >> "$d/node.log" 2>&1 < /dev/null &
    p=$!; st=$(start_of "$p"); echo "$p $st" > "$d/node.pid"
    echo "{\\"type\\":\\"pid\\",\\"pid\\":$p,\\"start\\":\\"$st\\"}" >> "$(cat "$d/resources-file")"
  fi
}
off() {
  [ "$(power)" = 0 ] && return 0
  echo 0 > "$d/power"; log "power off"
  kill_node KILL
  if [ -s "$d/machine-netns" ]; then
    for p in $(ip netns pids "$(cat "$d/machine-netns")" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  fi
}
case $op in
  get)
    for p in "$@"; do case $p in
      power) echo "power:$(power)" ;;
      boot) echo "boot:$(cat "$d/bootdev" 2>/dev/null || echo default)" ;;
      *) echo "Invalid parameter: $p"; exit 1 ;;
    esac; done ;;
  set)
    while [ $# -ge 2 ]; do p=$1; v=$2; shift 2; case $p in
      power) if [ "$v" = 1 ]; then on; else off; fi ;;
      reset) log "reset"; off; on ;;
      shutdown) if [ "$(power)" = 1 ]; then echo 0 > "$d/power"; log "soft shutdown"; kill_node TERM; fi ;;
      boot) echo "$v" > "$d/bootdev"; log "boot $v" ;;
      identify) log "identify $v" ;;
      *) echo "Invalid parameter: $p"; exit 1 ;;
    esac; done ;;
  check) exit 1 ;;
  *) echo "Unknown operation: $op"; exit 1 ;;
esac
exit 0
`;
