print("flotilla")
