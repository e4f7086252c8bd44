# packaging/: Debian, RPM, systemd, fail2ban, and the manual pages.
dist_man_MANS += doc/postern.8 doc/postern.conf.5

EXTRA_DIST += \
	packaging/postern.conf \
	packaging/pam/postern \
	packaging/pam/postern.redhat \
	packaging/systemd/postern.service \
	packaging/systemd/postern.socket \
	packaging/systemd/postern-tls.socket \
	packaging/sysusers.d/postern.conf \
	packaging/tmpfiles.d/postern.conf \
	packaging/fail2ban/filter.d/postern.conf \
	packaging/fail2ban/jail.d/postern.conf \
	packaging/rpm/postern.spec \
	packaging/debian/changelog \
	packaging/debian/control \
	packaging/debian/copyright \
	packaging/debian/postern.postinst \
	packaging/debian/postern.postrm \
	packaging/debian/rules \
	packaging/debian/source/format

# make install puts the commented sample configuration in
# $(sysconfdir)/postern/postern.conf unless a file is already there (an
# administrator's configuration is never overwritten), with this build's
# directories in its comments: without a configuration file postern does
# not start. make uninstall removes it only if it is still unchanged.
CONF_SAMPLE = packaging/postern.conf.sample
nodist_noinst_DATA = $(CONF_SAMPLE)
CLEANFILES += $(CONF_SAMPLE)
$(CONF_SAMPLE): $(srcdir)/packaging/postern.conf Makefile
	$(AM_V_GEN)$(MKDIR_P) packaging && \
	sed -e '1s|/etc/postern/|$(sysconfdir)/postern/|' \
	    -e 's|/usr/libexec/postern|$(pkglibexecdir)|' \
	    -e 's|/var/lib/postern/|$(localstatedir)/lib/postern/|' \
	    -e 's|/run/postern/|$(runstatedir)/postern/|' \
	    $(srcdir)/packaging/postern.conf >$@.tmp && mv $@.tmp $@

install-data-local: $(CONF_SAMPLE)
	$(MKDIR_P) '$(DESTDIR)$(sysconfdir)/postern'
	@if test -e '$(DESTDIR)$(sysconfdir)/postern/postern.conf'; then \
		echo "$(DESTDIR)$(sysconfdir)/postern/postern.conf exists: not replaced (the new sample is $(CONF_SAMPLE))"; \
	else \
		echo " $(INSTALL_DATA) $(CONF_SAMPLE) '$(DESTDIR)$(sysconfdir)/postern/postern.conf'"; \
		$(INSTALL_DATA) $(CONF_SAMPLE) '$(DESTDIR)$(sysconfdir)/postern/postern.conf'; \
	fi

uninstall-local: $(CONF_SAMPLE)
	@f='$(DESTDIR)$(sysconfdir)/postern/postern.conf'; \
	if test -f "$$f" && cmp -s $(CONF_SAMPLE) "$$f"; then \
		echo " rm -f $$f"; rm -f "$$f"; \
	elif test -f "$$f"; then \
		echo "$$f was changed: left in place"; \
	fi; \
	rmdir '$(DESTDIR)$(sysconfdir)/postern' 2>/dev/null || :

# Build the Debian package and the RPM from the distribution tarball, so
# that they contain exactly what a release contains (doc/packaging.md).
# The results are left in _deb/ and _rpmbuild/RPMS/.
deb: dist
	rm -rf _deb && mkdir _deb
	tar -C _deb -xzf $(PACKAGE)-$(VERSION).tar.gz
	cd _deb/$(PACKAGE)-$(VERSION) && ln -s packaging/debian debian && \
		dpkg-buildpackage -us -uc -b $(DEB_BUILD_FLAGS)

rpm: dist
	rm -rf _rpmbuild && mkdir -p _rpmbuild/SOURCES
	cp $(PACKAGE)-$(VERSION).tar.gz _rpmbuild/SOURCES/
	rpmbuild --define "_topdir $(abs_builddir)/_rpmbuild" $(RPMBUILD_FLAGS) \
		-bb $(srcdir)/packaging/rpm/postern.spec

clean-packages:
	rm -rf _deb _rpmbuild

.PHONY: deb rpm clean-packages
