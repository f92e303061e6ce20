; Lettuce's tags query for Kotlin (tree-sitter-kotlin-ng 1.x ships none).

(class_declaration
  "interface"
  name: (identifier) @name) @definition.interface

(class_declaration
  name: (identifier) @name) @definition.class

(object_declaration
  name: (identifier) @name) @definition.object

(companion_object
  name: (identifier) @name) @definition.object

(function_declaration
  name: (identifier) @name) @definition.function

(type_alias
  type: (identifier) @name) @definition.type

(enum_entry
  (identifier) @name) @definition.constant

(source_file
  (property_declaration
    (variable_declaration
      (identifier) @name)) @definition.constant)

(class_body
  (property_declaration
    (variable_declaration
      (identifier) @name)) @definition.property)
