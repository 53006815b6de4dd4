#!/bin/sh
# assemble.sh ROOT PACKAGE...: a root filesystem in ROOT with only the files
# of the given (installed) Debian packages, the CA bundle, and distroless's
# users and directories. Documentation is left out.
set -eu
root=$1
shift
mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/usr/lib" "$root/usr/lib64"
# Merged /usr, as in Debian bookworm: /bin -> usr/bin and so on. Paths of
# dpkg's lists through these links land in usr/.
for link in bin sbin lib lib64; do
    ln -s "usr/$link" "$root/$link"
done
for package in "$@"; do
    dpkg-query -L "$package" | while read -r path; do
        case "$path" in
            /usr/share/doc/* | /usr/share/man/* | /usr/share/info/* | /usr/share/lintian/*) continue ;;
        esac
        if [ -L "$path" ]; then
            # A link (e.g. /lib64 itself): only where nothing is yet.
            if [ ! -e "$root$path" ] && [ ! -L "$root$path" ]; then
                cp -a --parents "$path" "$root"
            fi
        elif [ -d "$path" ]; then
            mkdir -p "$root$path"
        elif [ -e "$path" ]; then
            cp -a --parents "$path" "$root"
        fi
    done
done
mkdir -p "$root/etc/ssl/certs"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
cat > "$root/etc/passwd" <<'USERS'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
USERS
cat > "$root/etc/group" <<'GROUPS'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
GROUPS
printf 'hosts: files dns\nnetworks: files\npasswd: files\ngroup: files\n' > "$root/etc/nsswitch.conf"
mkdir -p "$root/tmp" "$root/root" "$root/home/nonroot"
chmod 1777 "$root/tmp"
chmod 700 "$root/root" "$root/home/nonroot"
chown 65532:65532 "$root/home/nonroot"
