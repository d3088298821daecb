from recipes.transfer import main

main()
