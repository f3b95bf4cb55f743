NAME = "member-a"
