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
