/* placeholder, being written */
#include "sim_v1.h"
