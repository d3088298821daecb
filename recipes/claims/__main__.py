from recipes.claims import main

main()
