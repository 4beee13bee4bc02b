/* placeholder, being written */
#include "frame.h"
