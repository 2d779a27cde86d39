"""The review loop with Label Studio: choose the descriptions most worth a person's time
(`select`), send them as tasks with the student's scored spans and read the review back as gold
(`tasks`), over Label Studio's REST API (`client`). Importing this package loads nothing.
"""
