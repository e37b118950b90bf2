/* puts.c -- the minimal program behind tests/fixtures/static/ (see scripts/make-static-fixtures):
 * one call into the C library, nothing else. */
#include <stdio.h>

int main(void)
{
    puts("hello");
    return 0;
}
