;; A valid module that is not an OSO plugin: no exports at all.
(module)
