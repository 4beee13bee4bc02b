#ifndef MIG_TESTUTIL_H
#define MIG_TESTUTIL_H
#endif
