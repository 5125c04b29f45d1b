def register(sub):
    return sub.add_parser("report")
