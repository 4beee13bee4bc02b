/*
 * vfio-migd.c: the daemon's entry point.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv);

int
main(int argc, char **argv)
{
	int ch;

	while ((ch = getopt(argc, argv, "c:ftVh")) != -1) {
		switch (ch) {
		case 'V':
			printf("vfio-migd %s\n", PACKAGE_VERSION);
			return 0;
		default:
			break;
		}
	}
	fprintf(stderr, "vfio-migd: the daemon is not implemented yet\n");
	return 1;
}
