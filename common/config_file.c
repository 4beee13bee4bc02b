/* placeholder, being written */
#include "config_file.h"
