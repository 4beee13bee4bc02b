#ifndef MIG_CONFIG_FILE_H
#define MIG_CONFIG_FILE_H
#endif
