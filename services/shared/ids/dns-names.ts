/**
 * The DNS-1123 name rules every part checks names by: namespaces are labels, backend names and hosts are
 * subdomains (dot-separated labels). As pattern strings for TypeBox schemas and as RegExps.
 */

/** One label: lowercase letters, digits and '-', starting and ending with a letter or digit. */
const LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const SUBDOMAIN = `${LABEL}(\\.${LABEL})*`;

/** `<namespace>/<name>`: a label, then a subdomain (lengths are checked apart). */
export const BACKEND_ID_PATTERN = `^${LABEL}/${SUBDOMAIN}$`;
/** An exact hostname or a leading-wildcard one (`*.example.com`), lowercase, no port. */
export const HOST_PATTERN = `^(\\*\\.)?${SUBDOMAIN}$`;

/** One label, unanchored (a group name, at most 63 characters). */
export const DNS_LABEL_PATTERN = LABEL;
export const DNS_LABEL = new RegExp(`^${LABEL}$`);
export const DNS_SUBDOMAIN = new RegExp(`^${SUBDOMAIN}$`);
export const HOST = new RegExp(HOST_PATTERN);
