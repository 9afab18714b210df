#ifndef CPROCESS_SUPPORT_H
#define CPROCESS_SUPPORT_H

/// Asks the kernel to send `signal` to this process when its parent dies, then checks the parent
/// is still `expected_parent` (it may have died before the request). Returns 0, or -1 when the
/// parent is already gone. Swift cannot call the variadic prctl(2) directly.
int cps_die_with_parent(int signal, int expected_parent);

#endif
