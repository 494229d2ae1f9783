//! The SER-family (Kamailio 5.6) host layer: the only code that talks to Kamailio.
