# The stack's Debian bookworm base: the debootstrap rootfs (deploy/images/build.sh imports it as
# ROOTFS_IMAGE) with security updates, apt that installs no recommends, and no apt lists left.
# Every other image of the stack starts FROM this one, so nothing is pulled from a registry.
ARG ROOTFS_IMAGE
FROM ${ROOTFS_IMAGE}
ARG DEBIAN_MIRROR=http://deb.debian.org/debian
ARG DEBIAN_SECURITY_MIRROR=http://deb.debian.org/debian-security
ENV LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive
# policy-rc.d: package scripts must not try to start services during a build.
RUN printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
        "$DEBIAN_MIRROR" "$DEBIAN_MIRROR" "$DEBIAN_SECURITY_MIRROR" >/etc/apt/sources.list \
    && printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
        >/etc/apt/apt.conf.d/90compose-healer \
    && printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \
    && apt-get update -q \
    && apt-get upgrade -y -q \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
CMD ["bash"]
