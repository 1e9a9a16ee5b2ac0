/* The reference kernels in double precision, used by the central-difference tests. */
#include "ref.h"

#define REAL     double
#define FN(name) name##_f64
#include "kernels.inc"
