/* placeholder, being written */
#include "v1_driver.h"
