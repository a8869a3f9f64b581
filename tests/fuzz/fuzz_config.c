/*
 * fuzz_config.c - the config file parser: the input is written to a file and
 * loaded with ls_config_load (then validated, and printed by
 * ls_config_dump as --check-config does, to /dev/null). stdin is /dev/null,
 * so a fuzzed unified.token_file = /dev/stdin cannot block.
 */
#include "fuzz.h"
#include "ls_config.h"
#include "ls_err.h"

#include <string.h>
#include <unistd.h>

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    snprintf(path, sizeof(path), "/tmp/lmsync-fuzz-config.%ld", (long)getpid());
    if (!freopen("/dev/null", "r", stdin) || !freopen("/dev/null", "w", stdout))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    static ls_config_t cfg;
    char err[1024];
    err[0] = '\0';
    if (ls_config_load(path, 0, &cfg, err, sizeof(err)) == LS_OK)
        ls_config_dump(&cfg, stdout);
    else
        FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL, "a rejected config has no one-line reason");
    unlink(path);
    return 0;
}
