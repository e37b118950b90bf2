/* hello.c -- the trivial program behind tests/fixtures/built/ (see scripts/make-fixtures).
 *
 * It calls into the C library (getenv, printf) so that every build links against it:
 * dynamically (DT_NEEDED libc.so.6 / libc.so) or statically.
 */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    const char *who = getenv("HELLO_NAME");

    printf("hello, %s\n", who != NULL ? who : "world");
    return 0;
}
