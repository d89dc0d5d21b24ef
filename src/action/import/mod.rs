//! Importers: camera paths and hand tracks from other tools' files, converted at the border into our
//! conventions (world +Y up, metres; cameras looking down −Z with +Y up).
