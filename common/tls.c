/* placeholder, being written */
#include "tls.h"
