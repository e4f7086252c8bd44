# packaging/: Debian, RPM, systemd, fail2ban.
