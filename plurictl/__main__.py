from plurictl.cli import main

main()
