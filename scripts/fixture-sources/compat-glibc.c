/* compat-glibc.c -- a stand-in, written for libcprobe's tests, for a glibc-compatibility
 * library over musl (the role of Alpine's libgcompat.so.0): it answers glibc's version query
 * with a fixed string, or $GLIBC_FAKE_VERSION, whatever musl is underneath.  Built with
 * musl-gcc -shared by scripts/make-env-fixtures.
 */
#include <stdlib.h>

const char *gnu_get_libc_version(void)
{
    const char *fake = getenv("GLIBC_FAKE_VERSION");

    return fake != NULL ? fake : "2.8";
}

const char *gnu_get_libc_release(void)
{
    return "stable";
}
