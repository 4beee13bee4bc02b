#ifndef MIG_TLS_H
#define MIG_TLS_H
#endif
