"""Who may do what: users and roles, passwords, API tokens, the permission policy, the audit log.

Nothing here knows HTTP; web/auth.py applies it to requests.
"""
