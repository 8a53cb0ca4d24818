"""Word lists for the conversation generator (chatmem.generator).

Plain data, no imports beyond the standard library. Names that are also everyday
words (May, Rose, Will, Green, Park ...) are left out on purpose: a name must never
collide with a month, a colour, a place or a template word, or the train/valid split
of names would leak through ordinary text.
"""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    """Whitespace-separated single words."""
    return tuple(text.split())


def _phrases(text: str) -> tuple[str, ...]:
    """One entry per '|'-separated phrase (entries of several words)."""
    return tuple(p.strip() for p in text.split("|") if p.strip())


FIRST_NAMES = _words("""
Aaliyah Abdul Ada Adebayo Adele Adriana Agnieszka Ahmed Aiko Aino Akira Alejandro Aleksander
Alessia Alice Alinta Amara Amir Ana Anders Andrei Anika Anneli Antoine Anwar Aoife Arjun Arnav
Astrid Aurelio Ayesha Babajide Bao Beatriz Benedikt Bilal Birgit Bjorn Bogdan Bruno Camille
Carmen Cecilia Chidi Chinwe Chiara Chloe Ciaran Cosmin Dagny Dalia Damian Darius Deepika Desmond
Dilnoza Dmitri Dominika Duc Eamon Ebba Eero Efua Eitan Elif Elin Elisa Emeka Emil Emre Enzo
Esperanza Esther Evgenia Ewa Fabian Farah Farhan Fatima Femi Fernando Fiadh Filipa Finn Folake
Fredrik Gaspard Gintare Giorgos Giulia Gonzalo Greta Gunnar Gwen Hamid Hana Hannele Haruto Helga
Henrike Hiroshi Hoang Hugo Ibrahim Idris Ignacio Ilse Imani Ines Ingrid Ioana Irina Isak Ismail
Ivana Jakub Jana Janek Javier Jelena Jia Jin Joaquin Johanna Jonas Jorge Joris Julia Jurgen
Kaito Kalani Kamala Karim Karolina Kasia Katarina Kavya Keanu Kenji Khadija Kiri Kofi Kristjan
Kwame Laila Lars Laszlo Leandro Leila Lena Leonie Liam Liesel Lin Linnea Lorenzo Luca Lucia
Ludmila Lupita Maarten Magnus Mai Malak Malik Manon Mara Marek Mariam Marisol Marta Mateo Matilde
Mehmet Mei Mikael Milan Mina Minh Miriam Mirko Moana Mohammed Moritz Nadia Naledi Nasrin Natalia
Nawal Neha Nikolai Nils Nina Niamh Noor Nuno Obinna Odile Oisin Olamide Oleksandr Olga Omar Oona
Orla Oskar Otto Paloma Pavel Petra Pilar Piotr Priya Quentin Radek Rafael Rahul Rania Rashid Ravi
Reza Rhiannon Rin Rohan Rosalind Rui Ruslan Saanvi Sabine Sakura Salma Samir Sanjay Santiago
Saoirse Sapna Selin Seo-yeon Sergei Shira Siddharth Sigrid Silvia Simone Sinead Siobhan Soren
Stellan Sunita Svetlana Taavi Tadeo Takeshi Tamar Tanvir Tariq Teodor Thabo Theo Thiago Tiago
Tomas Tove Tuan Ulla Umar Vaclav Valentina Vasco Vera Viktor Vikram Wanjiru Wei Wiebke Wiktoria
Xavier Xiu Yara Yasmin Yusuf Yuki Yuna Zainab Zanele Zara Zeynep Zofia Zoltan Zuzana Abena Aditya
Amadou Annika Baptiste Barnaby Cillian Dorota Eszter Faisal Goran Hyun-woo Ilona Ji-ho Kalle
Ksenia Leopold Lucienne Mattias Nkechi Oyelaran Pernille Rasmus Sunniva Tobias Ugo Wojciech
Yevgeny Zdenek Alva Benicio Cormac Dewi Eleni Florin Gideon Heikki Inaya Jovana Kenzo Lucas
""")

SURNAMES = _words("""
Abara Achterberg Adeyemi Aguilar Ahn Akhtar Albrecht Alvarez Andersen Antonelli Aoki Arslan
Asante Babic Bachmann Banerjee Barros Bauer Becker Bergstrom Bianchi Bondarenko Borowski Brennan
Cardoso Castillo Chaudhry Chen Cho Costa Coutinho Czerny Dahl Dalton Das Dimitrov Doherty Dubois
Duarte Dvorak Eriksen Esposito Falk Farouk Ferreira Fischer Fonseca Fournier Friedrich Fujita
Gallagher Garcia Gashi Gonzalez Gupta Haddad Halvorsen Hansen Hartmann Hashemi Hayashi Herrera
Hoffmann Horvath Hosseini Huang Hussain Ibarra Ilic Inoue Ivanova Iyer Jablonski Jansen Jensen
Johansson Joshi Juarez Kaczmarek Kamau Kang Kapoor Karlsson Kaur Kawasaki Keller Kennedy Khan
Kim Kiplagat Kovacs Kowalski Kozlov Kruger Kumar Lambert Landry Larsen Laurent Lehmann Lindqvist
Lombardi Lopez Lozano Lundgren Macharia Magnusson Mahmoud Maier Mancini Marquez Martins Matsumoto
McCarthy Mendes Mensah Meyer Mikkelsen Molnar Moreau Morales Muller Murphy Nakamura Navarro Ndlovu
Nguyen Nielsen Novak Nowak Nyberg Obi Ochoa Odhiambo Okafor Okonkwo Olsen Oyelowo Ozturk Pajari
Papadopoulos Patel Pereira Petrov Pham Popescu Quintero Rahman Ramos Rasmussen Reyes Ricci
Rodrigues Romano Rosen Rossi Ruiz Sato Schmidt Schneider Schulz Sepulveda Shah Shevchenko Silva
Singh Sokolov Sorensen Suzuki Svensson Takahashi Tamm Tanaka Tan Teixeira Thorsen Toivonen
Tran Ueda Usman Vasquez Varga Vos Vu Wagner Walczak Wang Watanabe Weber Wojcik Xu Yamamoto Yilmaz
Yoon Zhang Zielinski Zimmermann Zubiri Abernathy Blackwood Calloway Delacroix Ekström Fairbairn
Gulliver Holloway Ingersoll Juhasz Kilbride Lachance Marchetti Northcott Ostrowski Pellegrini
Quarshie Rautenbach Stavros Thistlethwaite Underhill Valentini Whitlock Yardley Zapata Achebe
""")

# Cities and towns; street names are combined with a street type into addresses.
CITIES = _phrases("""
Tallinn | Porto | Leeds | Lyon | Graz | Bergen | Krakow | Valencia | Bologna | Ghent | Utrecht |
Aarhus | Tampere | Cork | Galway | Cardiff | Swansea | Dundee | Inverness | Brno | Ljubljana |
Zagreb | Split | Riga | Vilnius | Gdansk | Poznan | Seville | Bilbao | Malaga | Coimbra | Braga |
Turin | Naples | Verona | Nantes | Bordeaux | Lille | Marseille | Basel | Lausanne | Innsbruck |
Salzburg | Leipzig | Dresden | Bremen | Freiburg | Rotterdam | Eindhoven | Antwerp | Bruges |
Uppsala | Malmo | Trondheim | Stavanger | Odense | Reykjavik | Helsinki | Turku | Tartu | Kaunas |
Lodz | Wroclaw | Debrecen | Cluj | Plovdiv | Thessaloniki | Izmir | Haifa | Nairobi | Accra |
Lagos | Kumasi | Durban | Kyoto | Osaka | Sapporo | Busan | Daegu | Hanoi | Da Nang | Penang |
Chennai | Pune | Mysore | Lahore | Karachi | Marrakesh | Tunis | Montreal | Halifax | Winnipeg |
Oaxaca | Cusco | Valparaiso | Rosario | Curitiba | Recife | Hobart | Wellington | Dunedin |
Nelson | Launceston | Darwin | Cairns | Perth
""")

STREET_NAMES = _words("""
Quay Elm Mill Orchard Harbour Chapel Station Willow Cedar Beacon Ferry Granary Tannery Foundry
Linden Alder Rowan Heather Juniper Thistle Bramble Kiln Wharf Copper Lantern Meadow Falcon Kestrel
Heron Badger Otter Marlowe Abbey Priory Castle Bridge Market Dock Canal Weaver Cooper Fletcher
Chandler Saddler Tanner Boatman Glebe Rectory Vicarage Pinfold Moorland Fern Hawthorn Sycamore
Poplar Larch Hazelnut Chestnut Beech Cherrytree Dovecote Lark Wren Finch Starling Plover
""")

STREET_TYPES = _words("Road Street Lane Avenue Close Crescent Way Terrace Place Drive Gardens Row Walk Mews")

# Landmarks used for relative places: "above the bakery", "opposite the station".
LANDMARKS = _phrases("""
the bakery | the chemist | the post office | the old church | the launderette | the barber shop |
the fish market | the corner shop | the petrol station | the library | the town hall | the cinema |
the bus depot | the fire station | the swimming baths | the primary school | the football ground |
the bike shop | the noodle bar | the tram stop | the war memorial | the allotments | the mosque |
the synagogue | the garden centre | the dry cleaner | the tattoo parlour | the bowling alley |
the recycling centre | the river bridge
""")

LANDMARK_PREPS = ("above", "opposite", "next to", "behind", "around the corner from", "two doors down from")

# Where a thing can be: (prepositions, spots). Each spot gets one of its group's prepositions.
SPOT_GROUPS = (
    (("in", "inside", "at the back of"), _phrases("""
        the bread bin | the shed | the attic | the hall cupboard | the top drawer of my desk | the glovebox |
        the fridge | the freezer | the sock drawer | the airing cupboard | the cellar | the garage |
        the biscuit tin | the blue suitcase | the toolbox | the filing cabinet | the boot of the car |
        the laundry basket | the kitchen drawer | the wardrobe | the tool shed | the garden box |
        the cutlery drawer | the bathroom cabinet | the shoe rack | the spare room | the loft |
        the understairs cupboard | the utility room | the pantry | the larder | the greenhouse |
        the box room | the camper van | the porch | the cabinet by the door | the rucksack |
        the pencil case | the sewing box | the cool box | the old trunk | the fire safe | the first aid box |
        the key box | the junk drawer | the ceramic bowl | the key bowl | the shoebox | the glass jar |
        the document wallet | the lockbox
    """)),
    (("under", "behind", "on top of", "next to", "beside"), _phrases("""
        the mat | the sofa | the bed | the fridge magnet board | the plant pot | the kettle | the microwave |
        the bookshelf | the radiator | the washing machine | the piano | the desk lamp | the fruit bowl |
        the television | the coat rack | the kitchen clock | the recycling bin | the stairs |
        the garden gnome | the flower pot by the door | the printer | the hallway mirror |
        the front steps | the water butt | the log pile | the bird table | the compost bin | the doormat |
        the key hook | the loose floorboard
    """)),
)

# Where in the house a spot is, told after it: "under the plant pot by the back door", "in the fire safe in the
# loft". The answer is the whole phrase, not its last part.
SPOT_ANCHORS = _phrases("""
by the back door | by the front door | at the front | at the back | in the loft | in the hall | in the garage |
on the landing | in the kitchen | in the spare room | on the hallway shelf | in the porch | by the stairs |
under the stairs | in the cellar | in the shed | upstairs | downstairs | in the utility room | by the bins |
next to the boiler | on the top shelf | in the bedroom | in the living room | by the fireplace | in the garden |
on the windowsill | in the study | in the office | by the garage door | in the conservatory | on the bookcase
""")
# What a spot may be told with: "the blue plant pot", "the old biscuit tin".
SPOT_ADJECTIVES = _words("blue red green black white grey old big small little wooden metal ceramic plastic yellow")

# What people add after a fact, past its answer: "new tyres £340 (Kwik Fit)", "allergic to shellfish fr". A
# leading comma is written without the space.
ASIDES = _phrases("""
lol | haha | fr | tbh | smh | btw | as usual | apparently | I think | if you can believe it | of all places |
(finally) | (don't ask) | (long story) | (again) | (for now) | (I think) | (last I heard) | (obviously) |
(no idea why) | , which is handy | , which is annoying | , which is a relief | , bless | - finally |
- don't ask | , would you believe | , so that's sorted | , typical
""")

# Household and personal things; plural ones agree with "are".
THINGS = _phrases("""
drill | ladder | passport | spare key | umbrella | laptop | charger | headphones | camera | tripod |
hair dryer | iron | sewing machine | tent | sleeping bag | camping stove | kayak paddle | tennis racket |
golf clubs | fishing rod | snorkel | wetsuit | ski boots | bike pump | helmet | padlock | toolbox |
tape measure | spirit level | jigsaw | sander | hedge trimmer | lawnmower | wheelbarrow | hose |
pressure washer | step stool | extension cord | torch | lantern | power bank | tablet | e-reader |
birth certificate | marriage certificate | tax folder | cheque book | savings book | insurance papers |
vaccination card | warranty card | car keys | house keys | office keys | bike keys | gym card |
library card | rail card | season ticket | concert tickets | wedding ring | watch | necklace |
earrings | bracelet | cufflinks | reading glasses | sunglasses | contact lenses | hearing aid |
inhaler | pill box | thermometer | blood pressure monitor | first aid kit | hot water bottle |
electric blanket | fan heater | dehumidifier | air fryer | slow cooker | blender | food processor |
stand mixer | bread maker | rice cooker | pasta machine | waffle iron | fondue set | punch bowl |
cake tin | roasting tray | carving knife | chopping board | picnic basket | cool bag | flask |
thermos | water bottle | lunch box | suitcase | carry-on bag | duffel bag | backpack | briefcase |
laptop bag | tote bag | wallet | purse | coin jar | piggy bank | chess set | jigsaw puzzle |
board games | playing cards | guitar | ukulele | violin | keyboard | metronome | music stand |
sheet music | record player | vinyl records | speaker | microphone | projector | screen |
sewing kit | knitting needles | yarn | paint brushes | easel | sketchbook | glue gun | stapler |
hole punch | label maker | shredder | printer ink | envelopes | stamps | photo albums | scrapbook |
baby monitor | pram | car seat | high chair | stair gate | cot | baby carrier | potty | paddling pool |
dog lead | cat carrier | bird cage | fish tank filter | pet brush | horse saddle | bird feeder |
seed trays | trowel | pruning shears | rake | leaf blower | garden hose reel | sledge | snow shovel |
ice scraper | jump leads | tow rope | roof box | bike rack | spare tyre | jack | car cover |
yoga mat | dumbbells | kettlebell | skipping rope | foam roller | rowing gloves | boxing gloves |
roller skates | skateboard | scooter helmet | hiking poles | binoculars | telescope | metal detector |
soldering iron | multimeter | glue | superglue | duct tape | cable ties | fuse box key | meter key |
wool blanket | winter coat | rain jacket | wellies | dinner jacket | wedding dress | christening gown |
tablecloth | candle holders | fairy lights | christmas decorations | party hats | bunting
""")

PLURAL_THINGS = frozenset(_phrases("""
headphones | golf clubs | ski boots | car keys | house keys | office keys | bike keys | insurance papers |
concert tickets | earrings | cufflinks | reading glasses | sunglasses | contact lenses | board games |
playing cards | vinyl records | knitting needles | paint brushes | envelopes | stamps | photo albums |
seed trays | pruning shears | jump leads | dumbbells | boxing gloves | rowing gloves | roller skates |
hiking poles | binoculars | cable ties | wellies | candle holders | fairy lights | christmas decorations |
party hats
"""))

# Vehicles are parked in spots, not put in places.
VEHICLES = _phrases("van | car | camper | motorbike | scooter | trailer | caravan | moped | e-bike | minibus | pickup | boat")
PARKING_AREAS = _words("bay space spot row slot berth")

RELATIONS = _phrases("""
cousin | sister | brother | aunt | uncle | niece | nephew | grandmother | grandfather | mother-in-law |
father-in-law | sister-in-law | brother-in-law | stepfather | stepmother | godmother | godfather | wife |
husband | partner | girlfriend | boyfriend | best friend | flatmate | roommate | neighbour | landlord |
landlady | boss | manager | colleague | dentist | doctor | GP | physiotherapist | therapist | vet |
accountant | lawyer | mechanic | plumber | electrician | hairdresser | barber | piano tutor |
maths tutor | driving instructor | yoga teacher | personal trainer | babysitter | childminder | cleaner |
gardener | pharmacist | optician | midwife | football coach | swimming coach | music teacher |
line manager | team lead | mentor | pen pal | godson | goddaughter | stepson | stepdaughter | son |
daughter | son-in-law | daughter-in-law | ex-wife | ex-husband | fiancee | twin brother |
twin sister | older sister | younger brother | great-aunt | second cousin | sister's husband |
brother's wife | neighbour's son | dog walker | financial adviser | estate agent | tax adviser |
speech therapist | dance teacher | French tutor | guitar teacher | chess coach | tennis coach |
podiatrist | surgeon | bank manager | wedding planner | builder | roofer | window cleaner | postman
""")

# Relations that read well after another relation ("my cousin's wife", "Lena's piano tutor").
SECOND_RELATIONS = _phrases("""
wife | husband | partner | boss | dentist | piano tutor | son | daughter | landlord | flatmate |
best friend | mother | father | sister | brother | neighbour | girlfriend | boyfriend | mechanic
""")

JOBS = _phrases("""
nurse | teacher | pilot | carpenter | plumber | electrician | architect | engineer | accountant |
paramedic | pharmacist | firefighter | police officer | lawyer | judge | journalist | photographer |
graphic designer | software developer | data analyst | librarian | baker | chef | butcher | florist |
barista | bus driver | train driver | taxi driver | lorry driver | postwoman | postman | midwife |
physiotherapist | radiographer | vet | dentist | optician | surgeon | psychologist | social worker |
civil servant | bank clerk | estate agent | translator | interpreter | tour guide | flight attendant |
air traffic controller | ship captain | fisherman | farmer | beekeeper | gardener | landscaper |
stonemason | welder | mechanic | tailor | shoemaker | jeweller | potter | glassblower | sculptor |
painter | musician | cellist | drummer | actor | dancer | choreographer | sound engineer | editor |
publisher | bookseller | shop assistant | cashier | warehouse manager | project manager | consultant |
economist | statistician | researcher | lab technician | chemist | geologist | astronomer | zookeeper |
park ranger | lifeguard | swimming instructor | personal trainer | yoga instructor | hairdresser |
make-up artist | wedding planner | event manager | hotel receptionist | sommelier | brewer |
sign language interpreter | primary school teacher | secondary school teacher | marine biologist |
civil engineer | web developer | dental nurse | veterinary nurse | airline pilot | sous chef | head chef |
delivery driver | crane operator | school caretaker | human resources manager | store manager | night porter |
court stenographer | museum curator | speech and language therapist | occupational therapist
""")

# Words before a job that make it another job ("a senior nurse", "a freelance photographer").
JOB_MODIFIERS = ("senior", "junior", "trainee", "freelance", "assistant", "part-time", "locum", "retired",
                 "self-employed", "lead", "chief", "apprentice")

# Places named after someone ("St. Brigid's Hospital", "Colm's house"): the kinds a saint's name or a person's
# name goes with.
SAINT_PLACES = ("Hospital", "Primary School", "College", "Church", "Infirmary", "Clinic", "Academy", "")
SAINT_SCHOOLS = ("Primary School", "Primary", "College", "Academy", "National School", "")
OWNED_PLACES = ("house", "flat", "place", "cottage", "studio", "office", "caravan", "allotment", "shop")
OWNED_WORKPLACES = ("bakery", "garage", "cafe", "pharmacy", "bookshop", "butchers", "deli", "salon", "pub")

WORKPLACES = _phrases("""
the hospital | the central library | the town hall | the airport | the harbour office | the fire station |
the university | the primary school | the secondary school | the bakery on the corner | the brewery |
the city museum | the botanical garden | the zoo | the train depot | the bus garage | the post office |
the tax office | the courthouse | the shipyard | the paper mill | the data centre | the call centre |
the garden centre | the vet clinic | the dental practice | the pharmacy | the opera house |
the concert hall | the theatre | the art gallery | the radio station | the newspaper | the bank |
the insurance firm | the law firm | the supermarket | the hotel by the station | the ferry terminal |
the observatory | the aquarium | the leisure centre | the care home | the community centre
""")

# Named employers: "Kestrel Analytics", "Brennan & Dahl", told now and then as what they are ("a small architecture
# firm called Lantern Studio"). The name is the answer; the description is how it is told.
ORG_KINDS = _words("""
Analytics Studio Studios Ltd Group Partners Solutions Logistics Consulting Architects Systems Media Foods
Engineering Labs Insurance Design Digital Construction Legal Recruitment Software Print Publishing Energy Health
""")
ORG_FIELDS = _phrases("""
architecture | accounting | design | software | marketing | law | engineering | recruitment | consulting |
property | insurance | logistics | publishing | catering | printing | web design | building | tech
""")
ORG_SIZES = ("", "", "small ", "tiny ", "big ", "local ", "little ")
ORG_WORDS = ("firm", "company", "agency", "practice", "outfit", "start-up", "business")


# Cars as people name them, and the colours cars come in.
CAR_MODELS = _phrases("""
Skoda Fabia | Ford Fiesta | VW Golf | Toyota Yaris | Honda Jazz | Vauxhall Corsa | Nissan Leaf | Kia Picanto |
Fiat 500 | Mini Cooper | Renault Clio | Peugeot 208 | Volvo V40 | Tesla Model 3 | Mazda MX-5 | Hyundai i10 |
Citroen C3 | Audi A3 | BMW 1 Series | Dacia Sandero | Suzuki Swift | Seat Ibiza | Skoda Octavia | Toyota Prius |
Honda Civic | Ford Focus | Land Rover Defender | Subaru Outback | Volvo XC60 | Nissan Micra | Kia Sportage |
Toyota Corolla | Ford Transit | VW Polo | Renault Zoe | Mercedes A-Class | Peugeot 3008 | Hyundai Tucson |
Vauxhall Astra | Nissan Qashqai
""")
CAR_COLOURS = _phrases("""
white | black | silver | grey | red | blue | green | dark blue | dark green | navy | metallic grey | orange |
yellow | bright red | champagne | pale blue | burgundy | bronze | matt black | racing green
""")

# Things a person can be allergic to, colours, foods: values of personal attributes.
ALLERGENS = _phrases("""
peanuts | penicillin | shellfish | cats | pollen | latex | wasp stings | sesame | gluten | dairy |
eggs | soy | kiwi fruit | mustard | celery | lupin | aspirin | ibuprofen | dust mites | horse hair |
strawberries | tree nuts | codeine | sulphites | nickel
""")

COLOURS = _words("""
teal turquoise crimson scarlet maroon burgundy lilac lavender mauve indigo navy cobalt azure
cyan emerald chartreuse mustard ochre saffron tangerine coral salmon peach magenta fuchsia
beige taupe charcoal silver gold bronze copper khaki cream ivory
""")

FOODS = _phrases("""
lasagne | ramen | pad thai | paella | moussaka | pierogi | dumplings | sushi | jollof rice | tagine |
goulash | pho | biryani | falafel | risotto | fish pie | shepherd's pie | enchiladas | bibimbap |
katsu curry | gnocchi | borscht | ceviche | halloumi salad | mac and cheese | bangers and mash
""")

# Words for passwords like "cobalt-19" (digits are added by the generator).
CODE_WORDS = _words("""
falcon ember glacier harbour meteor orchid pepper quartz raven saturn tundra velvet walnut zephyr
anchor blizzard cactus dynamo eclipse fjord granite hazel igloo jaguar kelp lagoon marble nebula
oyster pebble quiver rocket sierra thunder umber vortex willow yonder zinc acorn bramble comet
delta fable goblin hornet iris jester kayak lemon mango nutmeg opal puffin quokka radish sprocket
tulip uplink viper wombat yeti zebra asteroid biscuit canyon drizzle
""")

# Things people do regularly, "base,third person,what": "Nadia teaches karate on Saturday afternoons."
HABITS = _phrases("""
teach,teaches,karate | teach,teaches,piano | teach,teaches,yoga | teach,teaches,Spanish | teach,teaches,pottery |
run,runs,a noodle bar | run,runs,a bakery | run,runs,a book club | run,runs,a food bank | run,runs,a bike repair shop |
grow,grows,courgettes | grow,grows,chillies | grow,grows,strawberries | grow,grows,bonsai trees | grow,grows,pumpkins |
collect,collects,stamps | collect,collects,vinyl records | collect,collects,old maps | collect,collects,teapots |
bake,bakes,sourdough | bake,bakes,wedding cakes | bake,bakes,bagels | brew,brews,cider | brew,brews,kombucha |
repair,repairs,bikes | repair,repairs,old clocks | repair,repairs,laptops | fix,fixes,vintage radios |
sell,sells,honey | sell,sells,candles | sell,sells,vintage clothes | sell,sells,plants at the market |
drink,drinks,rooibos | drink,drinks,oat milk lattes | drink,drinks,green tea | drink,drinks,ginger beer |
read,reads,crime novels | read,reads,poetry | read,reads,comics | watch,watches,snooker | watch,watches,cooking shows |
knit,knits,scarves | knit,knits,socks | paint,paints,watercolours | paint,paints,portraits | sew,sews,quilts |
coach,coaches,netball | coach,coaches,the under-tens | volunteer,volunteers,at the animal shelter |
walk,walks,the neighbour's dogs | clean,cleans,the church | tutor,tutors,maths | write,writes,short stories |
make,makes,furniture | make,makes,jam | carve,carves,spoons | build,builds,model trains | keep,keeps,bees |
play,plays,bridge | play,plays,darts | swim,swims,lengths | feed,feeds,the ducks | visit,visits,Grandma
""")
HABIT_TIMES = (("on ", "Saturday afternoons"), ("on ", "Tuesday evenings"), ("on ", "weekday mornings"),
               ("", "every Sunday"), ("", "twice a week"), ("", "every other Friday"), ("on ", "Thursday nights"),
               ("", "at the weekend"), ("", "every morning"), ("", "once a month"), ("on ", "Monday afternoons"),
               ("", "every Wednesday"), ("", "in the summer"), ("", "after work"), ("on ", "Sundays"))

# Foods and flavours people say they dislike ("I can't stand olives.")
DISLIKES = _phrases("""
olives | mushrooms | anchovies | blue cheese | liquorice | aubergine | beetroot | celery | marzipan | oysters |
brussels sprouts | raisins | mayonnaise | fennel | capers | gherkins | okra | tripe | black pudding | kale |
sardines | pineapple on pizza | cottage cheese | tofu | peas | cauliflower | mint chocolate | goat's cheese |
pickled herring | grapefruit | radishes | spinach | lentils | rice pudding | marmite | tomatoes | custard |
parsnips | jellied eels | sweetcorn
""")

PET_NAMES = _words("""
Biscuit Pepperpot Kiwi Noodle Waffles Pickles Mochi Tofu Nacho Pretzel Bramblewick Sprout Muffin
Gizmo Pixel Bandit Whiskers Smudge Patches Dotty Fudge Toffee Crumpet Nugget Bubbles Squeak Ziggy
Banjo Bingo Boomer Chewie Dobby Elvis Frodo Gonzo Hobbes Igor Jinx Kipper Loki Marmite Nibbles Ozzy
Pudding Quincy Rascal Scooter Tinkerbell Truffle Wiggles Yoda Zorro Custard Doodle Meatball Peanut
Snickers Sushiroll Taco Tater
""")

ANIMALS = _phrases("dog | cat | horse | rabbit | hamster | parrot | tortoise | goldfish | guinea pig | ferret | budgie | snake | lizard | pony | goat")

# Things people count: "I have 3 cats.", "Lena has two daughters."
COUNTABLES = _phrases("""
cats | dogs | kids | grandchildren | siblings | bikes | cousins | chickens | guitars | houseplants |
nephews | nieces | goats | bee hives | allotment beds | sourdough starters | tortoises | rabbits
""")

# Events with a date: "My haircut is on Friday at 10am."
EVENTS = _phrases("""
dentist appointment | haircut | parents' evening | MOT | job interview | eye test | physio session |
flu jab | driving test | piano lesson | yoga class | book club | team dinner | vet appointment |
boiler service | council meeting | school play | hospital check-up | passport interview |
smear test | blood test | wedding fitting | car service | tax deadline | mortgage meeting |
pottery class | choir rehearsal | football match | gym induction | chimney sweep visit
""")

# Things bought, for "How much did I pay for ...?": "I paid 1200 euros for the new sofa."
PURCHASES = _phrases("""
sofa | laptop | fridge | washing machine | mattress | dishwasher | road bike | e-bike | phone | television |
coffee machine | hoover | lawnmower | wardrobe | dining table | desk chair | bed frame | oven | freezer |
winter coat | wedding dress | suit | running shoes | hiking boots | watch | engagement ring | guitar | piano |
camera | tablet | printer | drone | tent | kayak | pram | car seat | cot | sewing machine | cooker hood |
boiler | shed | greenhouse | hot tub | barbecue | rug | armchair | bookcase | chest of drawers | headphones |
concert tickets | flights | train tickets | festival tickets | curtains | kitchen units | tyres | glasses
""")

# Purchases that are plural: "The concert tickets were 90 euros."
PLURAL_PURCHASES = frozenset(_phrases("""
concert tickets | flights | train tickets | festival tickets | curtains | kitchen units | tyres | glasses |
headphones | running shoes | hiking boots
"""))

CURRENCIES = ("euros", "pounds", "dollars", "quid", "francs", "kroner", "euro", "bucks")
CURRENCY_SIGNS = ("£", "£", "$", "€")

# Places with opening hours: "The pool is open until 6pm."
OPEN_PLACES = _phrases("""
the pool | the pharmacy | the library | the post office | the recycling centre | the gym | the sauna |
the farmers' market | the museum | the bike shop | the launderette | the bakery | the garden centre |
the ice rink | the climbing wall | the dump | the chemist | the bank
""")

# Where people meet: "the Old Bell", "the Fox and Anchor", "Café Lindqvist" (a surname), "the noodle bar on Mill Lane".
VENUE_ADJECTIVES = _words("Old Red Golden Black White Green Royal Blue Silver Crooked Jolly Merry Copper Wild")
VENUE_NOUNS = _words("""
Bell Crown Anchor Lion Fox Swan Lantern Oak Kettle Mill Harp Stag Plough Feathers Wheatsheaf Compass Otter Heron
Magpie Badger Barrel Bridge Lamb Falcon Boat Thistle Acorn Hare Pelican Ship
""")
EATERIES = _phrases("""
noodle bar | pizza place | tapas bar | coffee shop | bakery café | curry house | dumpling place | wine bar |
sushi place | bistro | tea room | diner | burger place | falafel stand | crêperie | brewery
""")
MEALS = ("lunch", "dinner", "coffee", "a drink", "breakfast", "brunch", "a quick catch-up", "tea")

MONTHS = _words("January February March April May June July August September October November December")
WEEKDAYS = _words("Monday Tuesday Wednesday Thursday Friday Saturday Sunday")

# Things one did, for "When did I ...?" through a relative time: (as said, as asked).
ACTIVITIES = (
    ("went to the dentist", "go to the dentist"), ("had my hair cut", "have my hair cut"),
    ("ran a 5k", "run a 5k"), ("visited my grandmother", "visit my grandmother"),
    ("cleaned out the garage", "clean out the garage"), ("renewed my passport", "renew my passport"),
    ("painted the fence", "paint the fence"), ("went to a pottery class", "go to a pottery class"),
    ("took the car for its MOT", "take the car for its MOT"), ("baked sourdough bread", "bake sourdough bread"),
    ("saw the new exhibition", "see the new exhibition"), ("went hiking in the hills", "go hiking in the hills"),
    ("started a new book", "start a new book"), ("planted the tomatoes", "plant the tomatoes"),
    ("fixed the leaking tap", "fix the leaking tap"), ("went to a concert", "go to a concert"),
    ("had a job interview", "have a job interview"), ("donated blood", "donate blood"),
    ("sold my old bike", "sell my old bike"), ("joined a choir", "join a choir"),
    ("went to the climbing wall", "go to the climbing wall"), ("booked the holiday", "book the holiday"),
    ("had the boiler serviced", "have the boiler serviced"), ("went to a wedding", "go to a wedding"),
    ("adopted a kitten", "adopt a kitten"), ("took a first aid course", "take a first aid course"),
    ("went to the vet", "go to the vet"), ("moved the sofa upstairs", "move the sofa upstairs"),
    ("went swimming", "go swimming"), ("called the bank", "call the bank"),
    ("finished the jigsaw", "finish the jigsaw"), ("went to a book club meeting", "go to a book club meeting"),
    ("had a picnic in the park", "have a picnic in the park"), ("repaired the fence", "repair the fence"),
    ("went to the farmers market", "go to the farmers market"), ("got a flu jab", "get a flu jab"),
    ("watched the football final", "watch the football final"), ("went to the opticians", "go to the opticians"),
)

# Hobbies, by what a person does with them: "plays the cello", "plays netball", "speaks Welsh".
INSTRUMENTS = _phrases("""
cello | violin | viola | double bass | trumpet | trombone | clarinet | oboe | bassoon | flute | saxophone |
harp | accordion | ukulele | banjo | mandolin | drums | piano | church organ | harmonica | bagpipes | tuba |
French horn | sitar | bouzouki | xylophone | bodhran | fiddle | recorder | electric guitar
""")
SPORTS = _words("""
tennis badminton squash rugby hockey netball volleyball cricket golf basketball handball lacrosse
baseball softball polo bowls darts snooker pool croquet korfball hurling shinty
""")
LANGUAGES = _words("""
Portuguese Finnish Swahili Korean Welsh Icelandic Tagalog Hungarian Turkish Polish Dutch Greek Hindi
Japanese Mandarin Arabic Czech Romanian Norwegian Vietnamese Persian Hebrew Catalan Basque Yoruba
Amharic Estonian Latvian Slovak Croatian Serbian Bengali Urdu Tamil Malay Zulu Danish Swedish Gaelic
""")

# What someone studies ("Ottilie is studying marine biology.").
SUBJECTS = _phrases("""
marine biology | law | medicine | nursing | computer science | mechanical engineering | civil engineering |
architecture | economics | history | art history | philosophy | psychology | sociology | chemistry | physics |
mathematics | statistics | geography | geology | English literature | classics | linguistics | music |
fine art | graphic design | fashion design | theatre studies | film studies | journalism | politics |
international relations | business studies | accountancy | veterinary science | dentistry | pharmacy |
physiotherapy | midwifery | social work | education | zoology | botany | biochemistry | neuroscience |
astrophysics | oceanography | environmental science | agriculture | forestry | archaeology | anthropology |
criminology | sports science | nutrition | game design | robotics | data science | photography | animation
""")

# Schools: "<street name> <kind>" ("Greenfield Primary").
SCHOOL_KINDS = ("Primary", "Primary School", "Academy", "High School", "Secondary School", "Grammar School",
                "Infant School", "Junior School", "Community College", "Sixth Form College")

# Things with an expiry or renewal date: (thing, as said of it, as asked).
DUE_THINGS = (
    ("passport", "expires", "expire"), ("driving licence", "expires", "expire"), ("railcard", "expires", "expire"),
    ("car insurance", "renews", "renew"), ("home insurance", "runs out", "run out"), ("visa", "expires", "expire"),
    ("gym membership", "ends", "end"), ("phone contract", "ends", "end"), ("lease", "ends", "end"),
    ("TV licence", "runs out", "run out"), ("bus pass", "expires", "expire"), ("work permit", "expires", "expire"),
    ("library card", "expires", "expire"), ("parking permit", "runs out", "run out"),
    ("mortgage deal", "ends", "end"), ("broadband contract", "ends", "end"), ("warranty", "runs out", "run out"),
)

# Jobs done around the house, told with a date in the text: (as said, as asked after "when").
DONE_TO_THINGS = (
    ("the boiler was serviced", "was the boiler serviced"), ("the chimney was swept", "was the chimney swept"),
    ("the piano was tuned", "was the piano tuned"), ("the windows were cleaned", "were the windows cleaned"),
    ("the gutters were cleared", "were the gutters cleared"), ("the roof was repaired", "was the roof repaired"),
    ("the carpets were cleaned", "were the carpets cleaned"), ("the dog was vaccinated", "was the dog vaccinated"),
    ("the washing machine was fixed", "was the washing machine fixed"), ("the fence was painted", "was the fence painted"),
    ("the new sofa was delivered", "was the new sofa delivered"), ("the locks were changed", "were the locks changed"),
    ("the smoke alarms were tested", "were the smoke alarms tested"), ("the tyres were changed", "were the tyres changed"),
    ("the garden was landscaped", "was the garden landscaped"), ("the bathroom was retiled", "was the bathroom retiled"),
    ("the septic tank was emptied", "was the septic tank emptied"), ("the oven was cleaned", "was the oven cleaned"),
    ("the hedge was trimmed", "was the hedge trimmed"), ("the lawnmower was sharpened", "was the lawnmower sharpened"),
)

# Relations whose names take a title ("my dentist is Dr. Amara Obi").
DOCTORS = frozenset(("dentist", "doctor", "GP", "surgeon", "vet", "physiotherapist", "podiatrist", "optician",
                     "therapist", "speech therapist"))
TITLED = frozenset(("landlord", "landlady", "lawyer", "accountant", "bank manager", "music teacher", "piano tutor",
                    "maths tutor", "French tutor", "boss", "manager", "financial adviser", "tax adviser"))

# Why someone did something, told after the fact: "Priya moved to Singapore to be closer to her sister." Each
# list by the kind of event (a home, a job or workplace, a course, a hobby); a fifth is held out like every entry.
REASONS_HOME = _phrases("""
to be closer to family | for a fresh start | because the rent was cheaper | to be near the sea |
for the schools | to be nearer work | for a quieter life | because of a new job | to save money |
to be near the grandchildren | because the old place was too small | to get away from the traffic |
after the divorce | for the mountains | to look after an elderly parent | because the commute was killing them |
to live somewhere with a garden | for the nightlife | to share a place with friends | because the landlord sold up |
to be close to the hospital | for a bigger kitchen | to be in the city centre | because it was time for a change
""")
REASONS_WORK = _phrases("""
because the pay is better | to help people | for a better work-life balance | because it was a dream job |
to learn new skills | after being made redundant | for the flexible hours | to work closer to home |
because the old boss was impossible | to be part of a small team | for the pension | to travel more |
because a friend recommended it | to do something creative | for the challenge | to get out of the office |
because the hours suit the kids | to give something back | for a change of scene | to earn enough to buy a house
""")
REASONS_STUDY = _phrases("""
because it leads to good jobs | out of pure curiosity | to become a teacher | to help with the family business |
because a great teacher inspired it | to work abroad one day | for the research | because it was the best course on offer |
to get into medicine | because it was always a favourite subject | to change careers | for the job prospects
""")
REASONS_HOBBY = _phrases("""
to relax after work | to make new friends | to stay fit | because a friend got hooked first | to meet new people |
to clear the head | for the fresh air | because the doctor suggested it | to get off screens | for fun with the kids |
to beat stress | because it looked fun on TV | to keep the mind sharp | for some time alone
""")
# Why a thing is kept where it is ({obj}: "it" or "them"): "I keep the spare key under the mat so the cleaner can
# get in." The place is still "under the mat".
REASONS_LOC = _phrases("""
so the cleaner can get in | so the kids can find {obj} | so nothing gets lost | so I don't forget {obj} |
to keep {obj} dry | out of reach of the dog | because there's no room anywhere else | to have {obj} handy |
to keep {obj} safe | because the drawer is full | so nobody trips over {obj} | to stop the cat chewing {obj} |
to keep {obj} cool | for when the neighbours need {obj} | because that's always been the place for {obj} |
so I see {obj} on the way out | to free up the hall | until the move | out of sight of visitors |
because the shed leaks | so the babysitter can use {obj} | to keep {obj} away from the toddler
""")

# Details told after a fact (chatmem.generator.DETAILS): breeds by animal
BREEDS_DOG = _phrases("""
beagle | labrador | spaniel | collie | border terrier | greyhound | dachshund | poodle | whippet | boxer |
springer spaniel | jack russell | pug | corgi | husky | schnauzer | lurcher | golden retriever | dalmatian | vizsla
""")
BREEDS_CAT = _phrases("""
grey tabby | ginger tabby | Siamese | Persian | Maine Coon | Bengal | Ragdoll | British Shorthair | Burmese |
black and white moggy | tortoiseshell | Sphynx | Russian Blue | Norwegian Forest cat | tabby
""")
BREEDS_HORSE = _phrases("""
Connemara | Arab | cob | thoroughbred | Welsh pony | Shetland | Haflinger | Friesian | Highland pony | Appaloosa
""")
BREEDS_RABBIT = _phrases("lop | mini lop | Dutch rabbit | Lionhead | Rex | Flemish Giant | Netherland Dwarf | Angora")
