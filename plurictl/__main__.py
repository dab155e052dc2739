import os

if os.environ.get("PLURI_DIE_WITH_PARENT"):  # a drill's node: die with the drill, however it ends
    from plurictl.lifeline import honour_parent

    honour_parent()

from plurictl.cli import main  # after the parent-death signal is set

main()
