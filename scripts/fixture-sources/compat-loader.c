/* compat-loader.c -- a stand-in, written for libcprobe's tests, for the loader shim a
 * glibc-compatibility layer over musl installs under glibc's loader name (Alpine's gcompat puts
 * one at /lib/ld-linux-x86-64.so.2).  The kernel runs it as the PT_INTERP of a glibc program;
 * it re-executes musl's dynamic loader on that program with the compatibility library
 * preloaded.  Only its shape matters to the tests: a static PIE linked with musl that names the
 * musl loader and the compatibility library.  Built by scripts/make-env-fixtures.
 */
#include <stdio.h>
#include <sys/auxv.h>
#include <unistd.h>

#define MUSL_LOADER "/lib/ld-musl-x86_64.so.1"
#define COMPAT_LIBRARY "/lib/libgcompat.so.0"

int main(int argc, char **argv)
{
    const char *program = (const char *)getauxval(AT_EXECFN);
    char *args[argc + 6];
    int n = 0;

    if (program == NULL) {
        fputs("compat-loader: no AT_EXECFN\n", stderr);
        return 127;
    }
    args[n++] = (char *)MUSL_LOADER;
    args[n++] = (char *)"--preload";
    args[n++] = (char *)COMPAT_LIBRARY;
    args[n++] = (char *)"--argv0";
    args[n++] = argc > 0 ? argv[0] : (char *)program;
    args[n++] = (char *)program;
    for (int i = 1; i < argc; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    execv(MUSL_LOADER, args);
    perror("compat-loader: " MUSL_LOADER);
    return 127;
}
