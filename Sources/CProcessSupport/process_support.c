#include "CProcessSupport.h"
#include <sys/prctl.h>
#include <unistd.h>

int cps_die_with_parent(int signal, int expected_parent) {
    if (prctl(PR_SET_PDEATHSIG, signal) != 0) return -1;
    return getppid() == expected_parent ? 0 : -1;
}
