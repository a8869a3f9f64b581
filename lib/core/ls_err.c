/* ls_err.c - names of LS_E* values, for log lines and status records. */
#include "ls_err.h"

const char *ls_strerror(int err)
{
    switch (err) {
    case LS_OK: return "OK";
    case LS_EINVAL: return "EINVAL";
    case LS_ENOMEM: return "ENOMEM";
    case LS_EIO: return "EIO";
    case LS_ENOTFOUND: return "ENOTFOUND";
    case LS_EFULL: return "EFULL";
    case LS_ETRANSIENT: return "ETRANSIENT";
    case LS_EPERM: return "EPERM";
    case LS_ESTOP: return "ESTOP";
    case LS_ERANGE: return "ERANGE";
    default: return "EUNKNOWN";
    }
}

void ls_err_printable(char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}
