# auth/: postern-auth, the PAM helper.
