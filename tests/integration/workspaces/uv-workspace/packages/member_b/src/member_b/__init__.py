NAME = "member-b"
