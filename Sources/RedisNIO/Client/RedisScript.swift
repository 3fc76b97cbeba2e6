/// A Lua script and the name it is known by.
package struct RedisScript: Sendable {
    /// A function of a library that runs the same script.
    package struct Function: Sendable {
        package let library: RedisLibrary
        package let name: String

        package init(library: RedisLibrary, name: String) {
            self.library = library
            self.name = name
        }
    }

    package let name: String
    /// The script as `EVAL` runs it.
    package let source: String
    /// Where Redis has functions, `FCALL` of this runs the script instead.
    package let function: Function?

    package init(name: String, source: String, function: Function? = nil) {
        self.name = name
        self.source = source
        self.function = function
    }
}

/// A Redis Functions library (Redis 7): Lua that registers functions, loaded once by `FUNCTION
/// LOAD` and kept by Redis, its replicas and its append-only file, where an `EVAL` script is only
/// cached. Its helpers are made once when it loads instead of on every call.
package struct RedisLibrary: Sendable {
    package let name: String
    /// The library's text, `#!lua name=NAME` first.
    package let source: String

    package init(name: String, source: String) {
        self.name = name
        self.source = source
    }
}
