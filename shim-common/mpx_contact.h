/*
 * mediaproxy.so — shim code every host's shim shares (included by each host's mpx_shim.c
 * after its own declarations, which name the same members alike): the first Contact's parsed
 * URI pointed at the fixed one, as nathelper's fix_nated_contact() does in OpenSIPS and in
 * Kamailio, so that the dialog module (which keeps each leg's contact from the parsed Contact
 * for the requests it sends itself) reaches a client behind NAT.
 *
 * Needs from the includer: struct hdr_field (opaque), struct mpx_hdr_field (with `parsed`),
 * struct mpx_contact_body (`star`, `contacts->uri`) and the core's parse_contact (weak).
 */
#ifndef MPX_CONTACT_H
#define MPX_CONTACT_H

/* 0 on success, -1 when there is no (parsable, non-star) Contact. */
static int mpx_point_first_contact(struct hdr_field *contact, char *uri, int len)
{
	struct mpx_contact_body *b;

	if (parse_contact == NULL || contact == NULL || parse_contact(contact) < 0)
		return -1;
	b = (struct mpx_contact_body *)((struct mpx_hdr_field *)contact)->parsed;
	if (b == NULL || b->star || b->contacts == NULL)
		return -1;
	b->contacts->uri.s = uri;
	b->contacts->uri.len = len;
	return 0;
}

#endif /* MPX_CONTACT_H */
