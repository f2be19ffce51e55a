from ncm.cli.main import main

main()
