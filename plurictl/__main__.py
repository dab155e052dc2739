from plurictl.lifeline import honour_parent

honour_parent()  # a drill's node: die with the drill, however it ends

from plurictl.cli import main  # noqa: E402 - after the parent-death signal is set

main()
