/*
 * listen.c: binds the listening TCP sockets of the daemon (listen.h).
 *
 * Owns name resolution of a listen address, the socket options every
 * listener wants and reading back the bound address. Never accepts a
 * connection or touches the event loop: the caller watches the socket.
 */
#include "listen.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "parse.h"
#include "xmalloc.h"

/* The address fd is bound to, as host:port ([v6]:port). */
static char *
listen_bound_address(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN], buf[INET6_ADDRSTRLEN + 16];
	uint16_t port;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return NULL;
	if (ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		snprintf(buf, sizeof(buf), "%s:%u", host, port);
	} else {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		snprintf(buf, sizeof(buf), "[%s]:%u", host, port);
	}
	return xstrdup(buf);
}

int
mig_listen_tcp(const char *what, const char *spec, int backlog, char **bound)
{
	struct addrinfo hints, *ai;
	char host[256], service[8];
	uint16_t port;
	int fd, one = 1, rc;

	/* A name or an address, as the config allows; port 0 is any free
	 * port (which evutil_parse_sockaddr_port refuses). */
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (mig_parse_listen_address(spec, host, sizeof(host), &port) != 0) {
		log_warnx("%s %s: not an address:port", what, spec);
		return -1;
	}
	snprintf(service, sizeof(service), "%u", port);
	if ((rc = getaddrinfo(host, service, &hints, &ai)) != 0) {
		log_warnx("%s %s: %s", what, spec, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("%s %s: socket", what, spec);
		freeaddrinfo(ai);
		return -1;
	}
	/* [::]:PORT beside 0.0.0.0:PORT: each family its own socket. */
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	rc = bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, backlog) != 0;
	freeaddrinfo(ai);
	if (rc) {
		log_warn("%s %s", what, spec);
		close(fd);
		return -1;
	}
	if ((*bound = listen_bound_address(fd)) == NULL) {
		log_warn("%s %s: getsockname", what, spec);
		close(fd);
		return -1;
	}
	return fd;
}
