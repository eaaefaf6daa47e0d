from segport.cli import main

main()
