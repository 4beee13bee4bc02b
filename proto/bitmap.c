/* placeholder, being written */
#include "bitmap.h"
