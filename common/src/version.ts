/** The Quire release version, reported by `quire --version` and in node registrations. */
export const quireVersion = '0.1.0';
